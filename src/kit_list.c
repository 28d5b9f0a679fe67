/*
** kit_list.c -- the kit's list: a growable array of strong references,
** tracked from creation like CPython's lists. Owns the item array (raw
** memory of the list's heap), its growth policy, traverse and clear.
** Uses only the public API and kit.h.
*/
#include <string.h>

#include "kit.h"

static int list_traverse(void *obj, rcgc_visit_fn visit, void *arg)
{
    kit_list *l = obj;
    for (size_t i = 0; i < l->len; i++)
        RCGC_VISIT(l->items[i]);
    return 0;
}

/* Drop every item. The list is made empty before the first unref, because
** an item's death may run code (a finalizer) that looks at this list. */
static void list_clear(void *obj)
{
    kit_list *l = obj;
    void **items = l->items;
    size_t n = l->len;
    l->items = NULL;
    l->len = 0;
    l->cap = 0;
    if (!items)
        return;
    for (size_t i = n; i-- > 0;)
        rcgc_unref(items[i]);
    rcgc_free(rcgc_heap_of(obj), items);
}

const char rcgc__kit_list_name[] = "list";

const rcgc_type *rcgc__kit_list_type_make(rcgc_heap *heap)
{
    return rcgc__kit_type(heap, rcgc__kit_list_name, sizeof(kit_list), 0, list_traverse,
                          list_clear);
}

static bool is_list(const void *obj) { return rcgc__kit_is(obj, rcgc__kit_list_name); }

/* Room for at least 'need' items: CPython's over-allocation (~1/8 + 6,
** rounded to 4), so appends are amortised O(1). */
static rcgc_status reserve(kit_list *l, size_t need)
{
    if (need <= l->cap)
        return RCGC_OK;
    if (need > SIZE_MAX / sizeof(void *) / 2)
        return RCGC_ENOMEM;
    size_t cap = (need + (need >> 3) + 6) & ~(size_t)3;
    void **items = rcgc_realloc(rcgc_heap_of(l), l->items, cap * sizeof *items);
    if (!items)
        return RCGC_ENOMEM;
    l->items = items;
    l->cap = cap;
    return RCGC_OK;
}

void *rcgc_list_new(rcgc_kit *kit, size_t capacity_hint)
{
    kit_list *l = rcgc__kit_new(kit, kit->types[KIT_T_LIST], 0);
    if (l && capacity_hint && reserve(l, capacity_hint) != RCGC_OK) {
        rcgc_unref(l);
        return NULL;
    }
    return l;
}

size_t rcgc_list_len(const void *list)
{
    return is_list(list) ? ((const kit_list *)list)->len : 0;
}

void *rcgc_list_get(const void *list, size_t index)
{
    if (!is_list(list))
        return NULL;
    const kit_list *l = list;
    return index < l->len ? l->items[index] : NULL;
}

rcgc_status rcgc_list_insert(void *list, size_t index, void *item)
{
    if (!is_list(list) || !item)
        return RCGC_EINVAL;
    kit_list *l = list;
    if (index > l->len)
        return RCGC_EINVAL;
    rcgc_status st = reserve(l, l->len + 1);
    if (st != RCGC_OK)
        return st;
    memmove(&l->items[index + 1], &l->items[index], (l->len - index) * sizeof *l->items);
    l->items[index] = rcgc_ref(item);
    l->len++;
    return RCGC_OK;
}

rcgc_status rcgc_list_append(void *list, void *item)
{
    return rcgc_list_insert(list, is_list(list) ? ((kit_list *)list)->len : 0, item);
}

rcgc_status rcgc_list_append_take(void *list, void *item)
{
    if (!item)
        return RCGC_ENOMEM;
    rcgc_status st = rcgc_list_append(list, item);
    rcgc_unref(item); /* the list took its own reference, or failed */
    return st;
}

rcgc_status rcgc_list_set(void *list, size_t index, void *item)
{
    if (!is_list(list) || !item || index >= ((kit_list *)list)->len)
        return RCGC_EINVAL;
    kit_list *l = list;
    RCGC_SETREF(l->items[index], rcgc_ref(item));
    return RCGC_OK;
}

rcgc_status rcgc_list_set_take(void *list, size_t index, void *item)
{
    if (!item)
        return RCGC_ENOMEM;
    rcgc_status st = rcgc_list_set(list, index, item);
    rcgc_unref(item);
    return st;
}

rcgc_status rcgc_list_pop(void *list, size_t index, void **out)
{
    if (out)
        *out = NULL;
    if (!is_list(list) || index >= ((kit_list *)list)->len)
        return RCGC_EINVAL;
    kit_list *l = list;
    void *item = l->items[index];
    l->len--;
    memmove(&l->items[index], &l->items[index + 1], (l->len - index) * sizeof *l->items);
    if (out)
        *out = item;
    else
        rcgc_unref(item);
    return RCGC_OK;
}

void rcgc_list_clear(void *list)
{
    if (is_list(list))
        list_clear(list);
}
