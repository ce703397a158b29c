"""Energy meters: counters read around the timed window, idle power subtracted."""
