-- Two indexes that cost every order and every source delivery more than they gave.
--
-- The orders of a customer, read whenever an order changes their figures, come from the index
-- alone: it holds what the figures need, so each order no longer costs a look-up of its row.
DROP INDEX orders_customer;
CREATE INDEX orders_customer ON orders (customer_id, placed_at, order_id, status, currency, total);

-- A message id claimed for good (a platform's event id; see ingest.LastingClaim) is never
-- purged, so it needs no entry in the index the purge walks. Those entries all shared one
-- receipt time and landed at random places in the index: a page written per delivery.
DROP INDEX ingest_messages_received;
CREATE INDEX ingest_messages_received ON ingest_messages (received_at) WHERE received_at < 253402214400000000;
