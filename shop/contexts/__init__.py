"""The bounded contexts: pim, catalog, checkout, fulfilment. They talk only through public topics."""
