"""The back office `/manage`: master data and the schedule, for admins and organizers (each within its counties)."""
