"""Energy-community allocation, settlement and Merkle hashing: pure functions, no I/O."""
