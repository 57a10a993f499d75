"""Sound: SoundFont instruments, rendering, loops and ambience, the lo-fi chain, mixing, mastering."""
