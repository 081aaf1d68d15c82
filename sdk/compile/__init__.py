"""Compiling a recipe into a Plan: the kind expanders, fan-out, chaining, data and model sources.

Pure: a compile reads the recipe and the files it names, never the store.
"""
