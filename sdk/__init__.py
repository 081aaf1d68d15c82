"""The engine: load -> validate -> compile -> plan -> apply, and the `recipe` CLI over it.

Import `sdk.api` for the SDK functions; nothing here imports an ML library.
"""
