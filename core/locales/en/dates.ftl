# dates
