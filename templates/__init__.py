"""Jinja2 templates and stylesheets, installed as the package ``bench.templates``.

This file makes the folder a regular package so importlib.resources finds it in editable installs too.
"""
