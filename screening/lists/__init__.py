"""Sanctions lists: parse, version, diff and serve OFAC, UN, UK and EU lists."""
