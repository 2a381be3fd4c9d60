"""Data quality: Great Expectations suites kept as code, and the per-source scorecard."""
