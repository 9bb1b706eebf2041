"""Analysis of trained models and runs: plots and tables that read result files."""
