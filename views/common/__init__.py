"""Streamlit glue shared by the pages: sign-in gate and access helpers, the Keras-state fix,
the page list, and shared pickers. Logic stays in dashcore; this only renders it."""
