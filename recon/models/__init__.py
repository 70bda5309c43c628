"""Model families (one subpackage per method) and their shared parts."""
