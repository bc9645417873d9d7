"""Everything a model learns from: built-in sets, uploads, saved drawings, statistics."""
