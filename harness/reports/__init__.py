"""What people read: Markdown tables, declared columns, documents, JUnit, job summaries, the HTML
report and `diff`.

Rule: reads stored records; never imports `run/` or `backends/`.
"""
