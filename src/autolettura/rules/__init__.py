"""The rules of DESIGN.md section 3 as plain functions over plain values.

Nothing here imports Django: the web form, the API, every channel and the bulk imports
apply exactly these functions, and they are tested fast and in bulk.
"""
