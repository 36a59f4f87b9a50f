"""powercycle: start and stop EC2 instances and EKS clusters on schedules kept in a tag."""

__version__ = "0.1.0"
