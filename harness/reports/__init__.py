"""What people read: Markdown tables, declared columns, documents, JUnit, job summaries and step
outputs, the HTML report (and the site of a results root, for GitHub Pages) and `diff`.

Rule: reads stored records; never imports `run/` or `backends/`.
"""
