"""The ``segsync`` command line (click): one module per group of commands."""
