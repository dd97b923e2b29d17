"""What is printed and written: statistics, tables, the chart and docs/benchmarks.md."""
