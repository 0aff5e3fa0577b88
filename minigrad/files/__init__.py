"""Files written atomically, so a reader sees the old file or the new one, never half."""
