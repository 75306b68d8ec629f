"""Payment providers behind one interface: the sandbox, the HMAC webhook, WeChat Pay and Alipay."""
