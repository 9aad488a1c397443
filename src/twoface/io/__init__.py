"""Reading inputs and writing labelled outputs."""
