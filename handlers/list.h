/* list.h -- every built-in handler, one line each, in --list order.  A new
 * handler is a file handlers/NAME.c defining `const ss_handler_t
 * ss_handler_NAME` plus one line here. */
HANDLER(menu10086)
HANDLER(thankyou)
HANDLER(echo)
HANDLER(poetry)
HANDLER(logger)
HANDLER(robot)
HANDLER(forward)
HANDLER(http)
HANDLER(chat)
HANDLER(whoami)
