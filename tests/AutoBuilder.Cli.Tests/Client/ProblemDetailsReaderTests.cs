using System.Net;
using System.Text;
using AutoBuilder.Cli.Client;

namespace AutoBuilder.Cli.Tests.Client;

public sealed class ProblemDetailsReaderTests
{
    [Fact]
    public async Task ReadAsync_ProblemJson_CarriesStatusTitleAndDetail()
    {
        using var response = new HttpResponseMessage(HttpStatusCode.Conflict)
        {
            Content = new StringContent("""{"type":"about:blank","title":"Version exists","status":409,"detail":"1.0.0 is a release"}""", Encoding.UTF8, "application/problem+json"),
        };

        var error = await ProblemDetailsReader.ReadAsync(response);

        Assert.Equal(HttpStatusCode.Conflict, error.StatusCode);
        Assert.Equal("Version exists", error.Title);
        Assert.Equal("1.0.0 is a release", error.Detail);
    }

    [Fact]
    public async Task ReadAsync_PlainTextBody_FallsBackToFirst500Characters()
    {
        var body = new string('a', 500) + new string('b', 500);
        using var response = new HttpResponseMessage(HttpStatusCode.BadGateway)
        {
            ReasonPhrase = "Bad Gateway",
            Content = new StringContent(body, Encoding.UTF8, "text/html"),
        };

        var error = await ProblemDetailsReader.ReadAsync(response);

        Assert.Equal(HttpStatusCode.BadGateway, error.StatusCode);
        Assert.Equal("Bad Gateway", error.Title);
        Assert.Equal(new string('a', 500), error.Detail);
    }

    [Fact]
    public async Task ReadAsync_EmptyBody_UsesReasonPhraseAndNoDetail()
    {
        using var response = new HttpResponseMessage(HttpStatusCode.Unauthorized) { ReasonPhrase = "Unauthorized" };

        var error = await ProblemDetailsReader.ReadAsync(response);

        Assert.Equal("Unauthorized", error.Title);
        Assert.Null(error.Detail);
    }
}
