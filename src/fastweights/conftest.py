"""pytest: the doctests of an optional integration are collected only with its extra."""

import importlib

try:
    importlib.import_module("transformers")
except ImportError:
    collect_ignore = ["hf"]
