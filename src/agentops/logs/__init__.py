"""Log analysis for AutoGen clusters: a streaming reader that searches bytes first and parses only the lines
that can matter (reader, scan), the record formats (records), grouping into patterns (patterns) with
recommended actions (knowledge), and the two questions people ask of logs: what went wrong (analyze) and what
happened to this one message (trace)."""
