"""What runs on an operator's machine only: the demo and the CAST AI stand-in.

`package.sh` leaves this subpackage out of the Lambda zip: it needs moto and is no part of
a scheduling pass.
"""
