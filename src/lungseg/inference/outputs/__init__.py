"""Files written for one segmented study: label maps, DICOM-SEG, overlay montages and the JSON report."""
