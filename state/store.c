/* Placeholder until the store lands: see store.h. */
#include "store.h"
