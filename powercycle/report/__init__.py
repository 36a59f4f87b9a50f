"""What a pass tells people: notices to owners, the SNS report, metrics."""
