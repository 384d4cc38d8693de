"""AI strategy selection in the daemon and commands: training, storage, A/B test (docs/ai-selection.md)."""
