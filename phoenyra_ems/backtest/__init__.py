"""Backtests: real data replayed through the decision logic, against the perfect-foresight bound."""
