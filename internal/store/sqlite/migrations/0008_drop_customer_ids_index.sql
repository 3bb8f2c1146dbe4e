-- customers_ids duplicated the primary key's own index (customers is a rowid table, so
-- sqlite_autoindex_customers_1 holds only ids and already covers the existence checks it
-- was added for), and every create paid for a second insert into it.
DROP INDEX IF EXISTS customers_ids;
