"""Records, their files, splits and exports."""
