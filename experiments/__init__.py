"""One module per paper; run each as ``python experiments/<paper>.py``."""
