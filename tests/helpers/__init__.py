"""Helpers shared by several test files; test files import from here, never from each other."""
