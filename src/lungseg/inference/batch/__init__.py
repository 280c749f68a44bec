"""``lungseg predict`` over one study or a folder of studies: output targets, the run, summary rows."""
