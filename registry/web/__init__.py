"""The registry's public face on the web: server-rendered pages in Japanese and English,
open-data downloads and certificates checkable in the browser, read-only over the
projection database. An entry point layer like registry/service: app.py assembles it,
pages.py, records.py, search.py and downloads.py answer, templates/ and static/ render."""
