"""Read models built from the event stream: balances, holdings, supply, retirements, the
joint-purchase allocation, pools and meetings, exchange agreements and deliveries. The
dispatch from event type to the rows it changes is apply.py; the tables are tables.py."""
