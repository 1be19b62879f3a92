"""Data views (PROTOCOL 4.6): pictures of a task's data, clean and corrupted, drawn from the tasks
themselves rather than from records (``qbench plot tsne``)."""
