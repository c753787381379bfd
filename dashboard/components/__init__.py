"""Widgets and figures shared by several pages (one function per job; pages never import each other)."""
