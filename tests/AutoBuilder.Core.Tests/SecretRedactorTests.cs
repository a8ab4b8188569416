namespace AutoBuilder.Core.Tests;

public sealed class SecretRedactorTests
{
    private const string BuildId = "0123456789abcdef0123456789abcdef";

    [Theory]
    [InlineData("key abk_Zx9-_aB3cD4eF5gH6iJ7kL8mN9oP0qR1sT2uV3wX4y end", "key abk_*** end")]
    [InlineData("Authorization: Bearer abk_short", "Authorization: Bearer abk_***")]
    [InlineData("token=" + BuildId + ".2.Qx-9_aB3cD4eF5gH6iJ7kL8mN9oP0qR1sT2uV3wX4", "token=" + BuildId + ".2.***")]
    [InlineData("GET http://127.0.0.1:8080/blobs/uploads/p/s/source.zip?sp=r&exp=1767225600&sig=AbC-_123xyz failed",
        "GET http://127.0.0.1:8080/blobs/uploads/p/s/source.zip?sp=r&exp=1767225600&sig=*** failed")]
    [InlineData("\"url\":\"http://h/b?sig=AbC123&x=1\"", "\"url\":\"http://h/b?sig=***&x=1\"")]
    [InlineData("encoded sig%3DAbC123%2B rest", "encoded sig=*** rest")]
    public void Redact_Secrets_AreMasked(string text, string expected) => Assert.Equal(expected, SecretRedactor.Redact(text));

    [Theory]
    [InlineData("plain build output: 3 tests passed.")]
    [InlineData("build " + BuildId + " attempt 2")]
    [InlineData("version 1.2.3 signature verified; design=ok")]
    [InlineData("")]
    public void Redact_NoSecret_ReturnsTheSameText(string text) => Assert.Same(text, SecretRedactor.Redact(text));

    [Fact]
    public void Redact_Twice_ChangesNothingMore()
    {
        var once = SecretRedactor.Redact($"abk_x {BuildId}.1.mac ?sig=s");

        Assert.Equal(once, SecretRedactor.Redact(once));
        Assert.DoesNotContain("mac", once, StringComparison.Ordinal);
    }
}
