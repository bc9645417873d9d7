"""The run store: run records, statuses and live metrics, behind one interface."""
