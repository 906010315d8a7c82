#include <stdio.h>
extern int early_status;
int main(void)
{
    printf("early_status=%d\n", early_status);
    return early_status == 0 ? 0 : 1;
}
