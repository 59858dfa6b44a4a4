"""The channels a customer writes or calls in from: each turns what it receives into one
service call and renders the answer (DESIGN.md section 4)."""
