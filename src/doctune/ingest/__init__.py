"""Ingest: documents (PDF, Markdown, TXT, HTML, DOCX, CSV/JSONL records) -> chunks.

`readers.read_document` turns a file into extracted documents (text, blocks with offsets, pages);
`chunking.Chunker` splits them into chunks that respect headings and paragraphs; `stage.run` is
the pipeline stage, with a per-document cache so unchanged documents are not processed again.
"""
