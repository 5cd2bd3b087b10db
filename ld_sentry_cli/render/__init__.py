"""Renderers: one report, several formats. Tables are rich renderables; JSON is plain dicts."""
